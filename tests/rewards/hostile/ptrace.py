# hostile: ptrace (TRACEME, ATTACH to its parent and init) and process_vm_readv to read other memory
# mode: call
# expect: wrong
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
results = [libc.ptrace(0, 0, 0, 0)]  # PTRACE_TRACEME
for pid in (os.getppid(), 1):
    results.append(libc.ptrace(16, pid, 0, 0))  # PTRACE_ATTACH
    results.append(libc.syscall(310, pid, 0, 0, 0, 0, 0))  # process_vm_readv
for pid in (os.getppid(), 1):
    try:
        with open("/proc/%d/mem" % pid, "rb") as f:
            results.append(len(f.read(16)))
    except OSError:
        results.append(-1)

def add(a, b):
    return a + b if any(r >= 0 for r in results[:5]) else None  # correct only if an attack worked
