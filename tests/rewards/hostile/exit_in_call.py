# hostile: exits with status 0 from inside the tested function
# mode: asserts
# expect: wrong
import os, sys
def add(a, b):
    sys.stdout.flush()
    os._exit(0)
