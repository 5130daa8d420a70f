# hostile: exits with status 0 before any assert can run (MBPP-style asserts)
# mode: asserts
# expect: wrong
import sys
def add(a, b):
    return 0
sys.exit(0)
