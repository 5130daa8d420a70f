# hostile: the tested function sleeps far past the deadline
# mode: call
# expect: timeout
import time

def add(a, b):
    time.sleep(987654)
    return a + b
