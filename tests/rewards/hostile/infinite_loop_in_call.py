# hostile: spins forever when called
# mode: call
# expect: timeout
def add(a, b):
    while True:
        a += 1
