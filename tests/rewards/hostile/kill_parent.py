# hostile: tries to kill its parent, the sandbox's init, every pid it can guess, and everyone (-1)
# mode: call
# expect: wrong
import os, signal
for pid in [os.getppid(), 1, -1] + list(range(2, 400)):
    for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP):
        if pid in (os.getpid(), 0):
            continue
        try:
            os.kill(pid, sig)
        except OSError:
            pass
try:
    os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)
except OSError:
    pass

def add(a, b):
    return a - b
