import CKernels

/// Ctrl-C (SIGINT) and SIGTERM during long work: the first one sets a flag that training checks after
/// every step (it then writes a checkpoint and throws `ExpertError.interrupted`); a second SIGINT ends
/// the process at once, as usual. The flag lives in C (`sig_atomic_t`), the only state a signal handler
/// may touch.
public enum Interruption {
    /// Installs the handlers (a command that trains calls this before it starts).
    public static func install() { tc_interrupt_install() }

    /// A signal has arrived since `install()`.
    public static var requested: Bool { tc_interrupt_requested() != 0 }
}
