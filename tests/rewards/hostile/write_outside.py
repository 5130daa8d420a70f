# hostile: tries to write files outside its working directory (the test then checks the host)
# mode: call
# expect: wrong
import os
written = []
for path in ["/tmp/grpo_hostile_marker", "/grpo_hostile_marker", "/usr/grpo_hostile_marker",
             "/usr/lib/python3/grpo_hostile_marker", "/etc/grpo_hostile_marker", "/root/grpo_hostile_marker",
             "/work/grpo_hostile_marker", "/dev/grpo_hostile_marker", "/dev/shm/grpo_hostile_marker",
             "/proc/grpo_hostile_marker", "../grpo_hostile_marker", "/var/tmp/grpo_hostile_marker"]:
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            f.write("escaped")
        written.append(path)
    except OSError:
        pass

escaped = [p for p in written if not p.startswith(("/tmp/", "/dev/shm/"))]

def add(a, b):
    return a + b if escaped else None  # correct only if an attack worked
