# hostile: fork bomb at import; every child forks again and spins
# mode: call
# expect: fail
import os
while True:
    try:
        os.fork()
    except OSError:
        pass

def add(a, b):
    return 0
