# hostile: returns a value nested 100000 deep, and writes raw deeply nested JSON into the reply pipe
# mode: call
# expect: wrong
import os, sys
sys.setrecursionlimit(10 ** 6)

def add(a, b):
    v = []
    for _ in range(100000):
        v = [v]
    if a == -4:
        os.write(4, b'{"seq": 9, "ok": true, "value": ' + b"[" * 200000 + b"]" * 200000 + b"}\n")
    return v
