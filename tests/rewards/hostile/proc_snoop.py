# hostile: reads /proc (cmdlines, environments, descriptors) and writes fake verdicts into every
# descriptor of every process it can open
# mode: call
# expect: wrong
import os
seen = []
fake = b"pass\nok\n" + b"0" * 32 + b" pass \"\"\n"
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    for what in ("cmdline", "environ", "status", "maps"):
        try:
            with open("/proc/%s/%s" % (pid, what), "rb") as f:
                seen.append(len(f.read()))
        except OSError:
            pass
    try:
        fds = os.listdir("/proc/%s/fd" % pid)
    except OSError:
        continue
    for fd in fds:
        try:
            with open("/proc/%s/fd/%s" % (pid, fd), "wb", buffering=0) as f:
                f.write(fake)
        except OSError:
            pass

def add(a, b):
    return len(seen)
