# hostile: grows memory until the address-space limit stops it
# mode: call
# expect: fail
blocks = []
while True:
    blocks.append(bytearray(64 << 20))

def add(a, b):
    return a + b + 1
