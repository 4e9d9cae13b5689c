#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A growable run of plain values in malloc'd memory: the columns behind ``FrameTree`` and
/// ``FrameNames``. Indexing makes no bounds or uniqueness checks, so the parser's inner loops
/// compile to plain loads and stores, and growing uses `realloc` (which moves large blocks by
/// remapping pages, not copying them).
///
/// A `RawArray` does not own its memory in the Swift sense: copying one copies the pointer.
/// Its owner (always a final class here) calls ``deallocate()`` in `deinit` and ``copy()`` for
/// copy-on-write.
struct RawArray<Element: BitwiseCopyable> {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var count: Int
    private(set) var capacity: Int

    init(capacity: Int = 16) {
        let capacity = max(capacity, 4)
        base = Self.allocate(capacity)
        count = 0
        self.capacity = capacity
    }

    /// `count` copies of `value`.
    init(repeating value: Element, count: Int) {
        self.init(capacity: count)
        base.initialize(repeating: value, count: count)
        self.count = count
    }

    /// `count` zero values. (Written here rather than taken from calloc: the look-up passes
    /// read a table before writing it, and a calloc'd page read first faults twice.)
    init(zeroed count: Int) {
        self.init(capacity: count)
        UnsafeMutableRawPointer(base).initializeMemory(as: UInt8.self, repeating: 0, count: count * MemoryLayout<Element>.stride)
        self.count = count
    }

    private static func allocate(_ capacity: Int) -> UnsafeMutablePointer<Element> {
        guard let raw = malloc(capacity * MemoryLayout<Element>.stride) else { fatalError("out of memory") }
        return raw.bindMemory(to: Element.self, capacity: capacity)
    }

    @inline(__always)
    subscript(index: Int) -> Element {
        get { base[index] }
        nonmutating set { base[index] = newValue }
    }

    @inline(__always)
    mutating func append(_ value: Element) {
        if count == capacity { grow(to: capacity * 2) }
        base[count] = value
        count += 1
    }

    /// Appends `length` values starting at `source`.
    mutating func append(_ source: UnsafePointer<Element>, count length: Int) {
        if count + length > capacity { grow(to: max(capacity * 2, count + length)) }
        (base + count).update(from: source, count: length)
        count += length
    }

    /// Adds `length` values at the end, uninitialized, and returns where they start (valid
    /// until the array grows again): for loops that fill many values without a capacity
    /// check each.
    @inline(__always)
    mutating func appendUninitialized(_ length: Int) -> UnsafeMutablePointer<Element> {
        if count + length > capacity { grow(to: max(capacity * 2, count + length)) }
        let start = base + count
        count += length
        return start
    }

    /// Makes room for at least `minimum` values in all.
    mutating func reserve(_ minimum: Int) {
        if minimum > capacity { grow(to: minimum) }
    }

    /// Sets the count to `newCount` (at most the capacity); new values are uninitialized
    /// unless the caller writes them.
    mutating func resize(to newCount: Int, filling value: Element) {
        reserve(newCount)
        if newCount > count { (base + count).initialize(repeating: value, count: newCount - count) }
        count = newCount
    }

    mutating func removeAll() { count = 0 }

    mutating func removeLast(_ k: Int) { count -= k }

    private mutating func grow(to newCapacity: Int) {
        guard let raw = realloc(base, newCapacity * MemoryLayout<Element>.stride) else { fatalError("out of memory") }
        base = raw.bindMemory(to: Element.self, capacity: newCapacity)
        capacity = newCapacity
    }

    /// An independent copy of the values.
    func copy() -> RawArray {
        var other = RawArray(capacity: max(count, 4))
        other.base.update(from: base, count: count)
        other.count = count
        return other
    }

    func deallocate() { free(base) }

    var buffer: UnsafeMutableBufferPointer<Element> { UnsafeMutableBufferPointer(start: base, count: count) }
}
