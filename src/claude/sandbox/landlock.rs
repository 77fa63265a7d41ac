//! Landlock scoping (ABI 6, Linux 6.12): cuts the sandbox off from abstract unix sockets
//! and signals of processes outside it.
//!
//! Abstract unix sockets (`@/tmp/.X11-unix/X0`, D-Bus, some agents) live in the network
//! namespace, not in the filesystem, so the private /tmp does not hide them: in `fs` mode,
//! which shares the host's network namespace, code in the sandbox could reach the X server
//! and type into the user's other windows. Scoping refuses every connection from inside
//! the domain to an abstract socket created outside it. Where the kernel lacks it, `fs`
//! gets a network namespace of its own instead (the outer llws decides, see
//! `claude::command`).
//!
//! Three raw system calls, not a crate: the ruleset handles no filesystem or network
//! access, only the two scopes, which is all this needs.

/// `LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET`.
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0;
/// `LANDLOCK_SCOPE_SIGNAL`.
const SCOPE_SIGNAL: u64 = 1 << 1;
/// `LANDLOCK_CREATE_RULESET_VERSION`.
const CREATE_RULESET_VERSION: u32 = 1 << 0;

/// The kernel's `struct landlock_ruleset_attr` (ABI 6 layout).
#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

/// The Landlock ABI version this kernel offers (0: none, or disabled at boot).
pub fn abi_version() -> i64 {
    // SAFETY: with a null attribute, size 0 and the VERSION flag the call only returns the
    // ABI version (or fails); it touches no memory of ours.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    v.max(0)
}

/// Whether this kernel can scope abstract unix sockets. `LLWS_SANDBOX_NO_LANDLOCK=1`
/// answers no, to try the fallback (a network namespace for `fs`) on a kernel that has it;
/// the fallback isolates more, never less.
pub fn scopes_abstract_sockets() -> bool {
    if std::env::var_os("LLWS_SANDBOX_NO_LANDLOCK").is_some_and(|v| v == "1") {
        return false;
    }
    abi_version() >= 6
}

/// What `fs` does on this kernel, in one line for `llws doctor`.
pub fn describe() -> String {
    let abi = abi_version();
    if scopes_abstract_sockets() {
        format!(
            "Landlock ABI {abi}: fs keeps abstract unix sockets (X11, D-Bus) out by scoping, and shares the host's network"
        )
    } else {
        format!(
            "Landlock ABI {abi} (scoping needs 6, Linux 6.12): fs gets its own network namespace, bridged like strict (no internet)"
        )
    }
}

/// Restricts this thread (and every process it starts afterwards) from connecting to
/// abstract unix sockets and signalling processes outside its Landlock domain. Call it
/// while the process has one thread: the restriction is per thread and inherited.
/// Needs no-new-privileges, which bwrap has set.
pub fn scope_self() -> std::io::Result<()> {
    let attr = RulesetAttr {
        handled_access_fs: 0,
        handled_access_net: 0,
        scoped: SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL,
    };
    // SAFETY: a valid attribute of the size given; the kernel copies it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            &attr as *const RulesetAttr,
            std::mem::size_of::<RulesetAttr>(),
            0u32,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = fd as i32;
    // SAFETY: restricts the calling thread with the ruleset just created; then its
    // descriptor is closed (the domain keeps what it needs).
    let r = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) };
    let err = std::io::Error::last_os_error();
    // SAFETY: fd is ours and closed once.
    unsafe {
        libc::close(fd);
    }
    if r < 0 { Err(err) } else { Ok(()) }
}
