# hostile: sleeps past the deadline before printing the right answer (stdin/stdout)
# mode: stdio
# expect: timeout
import time
time.sleep(987654)
a, b = map(int, input().split())
print(a + b)
