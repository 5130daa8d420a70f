# hostile: writes NUL bytes, invalid UTF-8 and terminal escapes instead of the answer (stdin/stdout)
# mode: stdio
# expect: wrong
import os
os.write(1, bytes(range(256)) * 4 + b"\xff\xfe\x00\x1b[2J\x1b]0;pwned\x07\n")
