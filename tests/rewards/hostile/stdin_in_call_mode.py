# hostile: reads stdin (hoping for the tests) at import in the assert style
# mode: asserts
# expect: wrong
import sys
data = sys.stdin.read()

def add(a, b):
    return len(data)
