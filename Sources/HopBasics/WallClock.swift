import Foundation

/// The time hop waits on (a health gate's deadline, a watch window, a drain): a seam, so tests
/// of those decisions advance a fake clock instead of sleeping through them.
/// Not named `Clock`: that is the standard library's protocol for `ContinuousClock`.
public protocol WallClock: Sendable {
    var now: Date { get }
    /// Blocks the calling thread for `seconds` (a fake advances `now` instead).
    func sleep(seconds: Double)
}

/// The machine's clock; `sleep` blocks the thread.
public struct SystemClock: WallClock {
    public init() {}
    public var now: Date { Date() }
    public func sleep(seconds: Double) {
        guard seconds > 0 else { return }
        usleep(useconds_t(seconds * 1_000_000))
    }
}
