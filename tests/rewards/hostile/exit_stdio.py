# hostile: exits with status 0 without printing anything (stdin/stdout)
# mode: stdio
# expect: wrong
import os
os._exit(0)
