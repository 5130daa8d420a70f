# hostile: tries to leave its session and process group, then leaves a child sleeping behind
# mode: call
# expect: wrong
import os, time
attempts = []
for f in (os.setsid, lambda: os.setpgid(0, 0)):
    try:
        f()
        attempts.append("escaped")
    except OSError:
        attempts.append("denied")
if os.fork() == 0:
    try:
        os.setsid()
    except OSError:
        pass
    time.sleep(987654)
    os._exit(0)

def add(a, b):
    return a + b if "escaped" in attempts else None  # correct only if an attack worked
