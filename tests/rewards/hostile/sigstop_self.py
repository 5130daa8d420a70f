# hostile: stops its own process group (hoping to hang the harness), and answers wrongly if it wakes up
# mode: call
# expect: fail
import os, signal
os.kill(0, signal.SIGSTOP)

def add(a, b):
    return a - b
