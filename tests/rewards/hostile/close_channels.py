# hostile: closes the protocol descriptors and stdout so the harness hears nothing
# mode: call
# expect: wrong
import os
for fd in (0, 1, 2, 3, 4, 5):
    try:
        os.close(fd)
    except OSError:
        pass

def add(a, b):
    return a + b
