# hostile: unbounded recursion with the recursion limit lifted (C stack overflow)
# mode: call
# expect: fail
import sys
sys.setrecursionlimit(10 ** 8)

def add(a, b):
    return add(a, b) + 1
