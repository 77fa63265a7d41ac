//! A seccomp filter that refuses the two ioctls that let a sandboxed process type into its
//! terminal: TIOCSTI (push bytes into the terminal's input queue, CVE-2017-5226 for bwrap)
//! and TIOCLINUX (the console's equivalent). Everything else is allowed.
//!
//! Why a filter and not bwrap's `--new-session`: a new session detaches the program from
//! its controlling terminal, so it gets no SIGWINCH on resize and no job control, which an
//! interactive program such as Claude Code needs. The filter closes the same hole and keeps
//! the terminal. Kernels since 6.2 can also turn TIOCSTI off for everyone
//! (`dev.tty.legacy_tiocsti = 0`), but most distributions leave it on.
//!
//! The program is classic BPF over `struct seccomp_data { int nr; u32 arch; u64 ip;
//! u64 args[6]; }`, in the byte layout bwrap's `--seccomp FD` reads.

/// The kernel's `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS (0x20)
const BPF_JEQ_K: u16 = 0x15; // BPF_JMP (5) | BPF_JEQ (0x10) | BPF_K (0)
const BPF_JGE_K: u16 = 0x35; // BPF_JMP (5) | BPF_JGE (0x30) | BPF_K (0)
const BPF_RET_K: u16 = 0x06; // BPF_RET (6) | BPF_K (0)
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const EPERM: u32 = 1;

const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
/// args[1] (the ioctl request); its low 32 bits on little-endian machines, which is all
/// the kernel compares (the request is an `unsigned int`).
const OFFSET_ARG1_LOW: u32 = 16 + 8;

const TIOCSTI: u32 = 0x5412;
const TIOCLINUX: u32 = 0x541c;

#[cfg(target_arch = "x86_64")]
const ARCH: (u32, u32) = (0xc000_003e, 16); // AUDIT_ARCH_X86_64, __NR_ioctl
#[cfg(target_arch = "aarch64")]
const ARCH: (u32, u32) = (0xc000_00b7, 29); // AUDIT_ARCH_AARCH64, __NR_ioctl

fn program() -> Vec<Insn> {
    let (audit_arch, nr_ioctl) = ARCH;
    let ld = |k| Insn {
        code: BPF_LD_W_ABS,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k, jt, jf| Insn {
        code: BPF_JEQ_K,
        jt,
        jf,
        k,
    };
    let jge = |k, jt, jf| Insn {
        code: BPF_JGE_K,
        jt,
        jf,
        k,
    };
    let ret = |k| Insn {
        code: BPF_RET_K,
        jt: 0,
        jf: 0,
        k,
    };
    vec![
        /* 0 */ ld(OFFSET_ARCH),
        // Another ABI (e.g. i386 on x86_64) has other syscall numbers: refuse it outright
        // rather than let a different table slip past.
        /* 1 */
        jeq(audit_arch, 1, 0),
        /* 2 */ ret(SECCOMP_RET_ERRNO | EPERM),
        /* 3 */ ld(OFFSET_NR),
        // The x32 ABI shares x86_64's arch value with numbers from 0x40000000 up.
        /* 4 */
        jge(X32_SYSCALL_BIT, 5, 0),
        /* 5 */ jeq(nr_ioctl, 0, 3),
        /* 6 */ ld(OFFSET_ARG1_LOW),
        /* 7 */ jeq(TIOCSTI, 2, 0),
        /* 8 */ jeq(TIOCLINUX, 1, 0),
        /* 9 */ ret(SECCOMP_RET_ALLOW),
        /* 10 */ ret(SECCOMP_RET_ERRNO | EPERM),
    ]
}

/// The filter as the bytes bwrap's `--seccomp FD` expects (an array of sock_filter).
pub fn tiocsti_filter() -> Vec<u8> {
    let mut out = Vec::new();
    for i in program() {
        out.extend_from_slice(&i.code.to_ne_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_ne_bytes());
    }
    out
}

/// A memfd holding the filter, without close-on-exec so it survives the exec into bwrap.
pub fn filter_fd() -> std::io::Result<std::os::fd::OwnedFd> {
    use std::io::{Seek, Write};
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: memfd_create with a static NUL-terminated name; the result is checked and
    // owned exactly once.
    let fd = unsafe { libc::memfd_create(c"llws-seccomp".as_ptr(), 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(owned);
    file.write_all(&tiocsti_filter())?;
    file.rewind()?;
    Ok(OwnedFd::from(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks the program like the kernel would, for one syscall.
    fn run(arch: u32, nr: u32, arg1: u32) -> u32 {
        let prog = program();
        let mut acc = 0u32;
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            match i.code {
                BPF_LD_W_ABS => {
                    acc = match i.k {
                        OFFSET_ARCH => arch,
                        OFFSET_NR => nr,
                        OFFSET_ARG1_LOW => arg1,
                        k => panic!("unexpected load at {k}"),
                    };
                    pc += 1;
                }
                BPF_JEQ_K => pc += 1 + usize::from(if acc == i.k { i.jt } else { i.jf }),
                BPF_JGE_K => pc += 1 + usize::from(if acc >= i.k { i.jt } else { i.jf }),
                BPF_RET_K => return i.k,
                c => panic!("unexpected opcode {c}"),
            }
        }
    }

    #[test]
    fn only_tiocsti_and_tioclinux_are_refused() {
        let (arch, ioctl) = ARCH;
        let deny = SECCOMP_RET_ERRNO | EPERM;
        assert_eq!(run(arch, ioctl, TIOCSTI), deny);
        assert_eq!(run(arch, ioctl, TIOCLINUX), deny);
        assert_eq!(run(arch, ioctl, 0x5413), SECCOMP_RET_ALLOW); // TIOCGWINSZ
        assert_eq!(run(arch, ioctl + 1, TIOCSTI), SECCOMP_RET_ALLOW);
        assert_eq!(run(0x4000_0003, ioctl, 0), deny); // AUDIT_ARCH_I386
        assert_eq!(run(arch, X32_SYSCALL_BIT + 514, TIOCSTI), deny); // x32 ioctl
        assert_eq!(run(arch, 0, 0), SECCOMP_RET_ALLOW); // read
        assert_eq!(tiocsti_filter().len(), 11 * 8);
    }
}
