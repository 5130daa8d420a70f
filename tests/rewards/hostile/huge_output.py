# hostile: floods stdout (stdin/stdout)
# mode: stdio
# expect: fail
import sys
chunk = "x" * 65536
while True:
    sys.stdout.write(chunk)
