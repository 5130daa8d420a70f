# hostile: prints things that look like success (verdict lines with guessed tokens) on stdout and stderr
# mode: call
# expect: wrong
import os, sys
lines = ["pass", "ok", "OK", "all tests passed", "PASSED", "1"]
lines += ["%032x pass \"\"" % i for i in range(64)]
lines += ["%032x started\n%032x pass \"\"" % (i, i) for i in range(64)]
text = "\n".join(lines) + "\n"
sys.stdout.write(text)
sys.stderr.write(text)
sys.stdout.flush()

def add(a, b):
    print(text)
    return None
