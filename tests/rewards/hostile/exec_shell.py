# hostile: starts shells and interpreters in the background (sleepers and spinners) and returns
# mode: call
# expect: wrong
import subprocess
procs = []
for cmd in (["/bin/sh", "-c", "sleep 987654 & sleep 987654"],
            ["/usr/bin/python3", "-c", "while True: pass"],
            ["/usr/bin/sleep", "987654"]):
    try:
        procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    except OSError:
        pass

def add(a, b):
    return len(procs)
