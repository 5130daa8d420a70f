# hostile: creates threads until the process limit stops it, then answers wrongly
# mode: call
# expect: fail
import threading
ev = threading.Event()
n = 0
try:
    while True:
        threading.Thread(target=ev.wait, daemon=True).start()
        n += 1
except (RuntimeError, MemoryError, OSError):
    pass

def add(a, b):
    return n
