# hostile: opens descriptors until the limit, keeps them, then answers wrongly
# mode: call
# expect: wrong
import os
held = []
try:
    while True:
        held.extend(os.pipe())
except OSError:
    pass
try:
    while True:
        held.append(os.open("/dev/null", os.O_RDONLY))
except OSError:
    pass

def add(a, b):
    return len(held)
