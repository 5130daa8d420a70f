# hostile: spins forever at import
# mode: call
# expect: timeout
while True:
    pass
