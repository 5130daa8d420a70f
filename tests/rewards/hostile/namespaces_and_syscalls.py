# hostile: unshare, mount, bpf, keyctl, userfaultfd, personality, io_uring, setns through raw syscalls
# mode: call
# expect: wrong
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
ok = []
calls = {
    "unshare(NEWUSER|NEWNS)": (272, 0x10000000 | 0x00020000),
    "mount": (165, ctypes.c_char_p(b"none"), ctypes.c_char_p(b"/tmp"), ctypes.c_char_p(b"tmpfs"), 0, 0),
    "bpf": (321, 0, 0, 0),
    "keyctl": (250, 0, 0, 0),
    "userfaultfd": (323, 0),
    "personality": (135, 0x0040000),
    "io_uring_setup": (425, 1, ctypes.create_string_buffer(120)),
    "setns": (308, 0, 0),
    "clone(NEWUSER)": (56, 0x10000000 | 17, 0, 0, 0, 0),
}
for name, args in calls.items():
    r = libc.syscall(*args)
    if r == 0 and name.startswith("clone"):
        os._exit(0)  # the child of a clone that should have been refused
    if r >= 0:
        ok.append(name)

def add(a, b):
    return a + b if ok else None  # correct only if an attack worked
