# hostile: floods stderr while being tested through calls
# mode: call
# expect: fail
import os
chunk = b"e" * 65536
while True:
    os.write(2, chunk)
