import AttestCore
import Foundation

/// Opens the files a bundle's manifest names, so that they stay inside the bundle
/// (bundle.md §Layout): a path is relative, each component is made of
/// `[A-Za-z0-9._-]` and is not `.` or `..`, no component is a symbolic link, and the
/// file is a regular file. A directory, a FIFO, a device or a link to one is refused
/// before a byte is read, so a hostile bundle can neither crash the reader nor make
/// it wait or read forever.
struct BundleDirectory: Sendable {
    let root: URL

    static let maxPathBytes = 1024

    /// Whether `path` is a well-formed manifest path (the text rule; `open` also checks the file).
    static func isWellFormed(_ path: String) -> Bool {
        guard !path.isEmpty, path.utf8.count <= maxPathBytes else { return false }
        let components = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        return components.allSatisfy { c in
            !c.isEmpty && !c.elementsEqual(".".utf8) && !c.elementsEqual("..".utf8)
                && c.allSatisfy { b in
                    (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b)
                        || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
                }
        }
    }

    /// Opens `path` for reading, or throws `BND_MALFORMED` naming why.
    func open(_ path: String) throws(AttestError) -> ReadableFile {
        guard Self.isWellFormed(path) else { throw AttestError(.bundleMalformed, "manifest path \"\(path)\" is not a relative path of plain names") }
        var directory = Glibc.open(root.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw AttestError(.bundleMalformed, "cannot open the bundle directory: \(Self.describe(errno))") }
        let components = path.split(separator: "/").map(String.init)
        for (i, name) in components.enumerated() {
            let last = i == components.count - 1
            // O_NOFOLLOW refuses a symbolic link; O_NONBLOCK keeps opening a FIFO from waiting for a writer.
            let flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (last ? O_NONBLOCK : O_DIRECTORY)
            let next = openat(directory, name, flags)
            var failure = errno
            if next < 0 {
                // O_DIRECTORY reports a link to a directory as ENOTDIR: name the link.
                var status = stat()
                if fstatat(directory, name, &status, AT_SYMLINK_NOFOLLOW) == 0, (status.st_mode & S_IFMT) == S_IFLNK { failure = ELOOP }
            }
            close(directory)
            guard next >= 0 else {
                throw AttestError(.bundleMalformed, "cannot open \(path): \(Self.describe(failure))")
            }
            directory = next
        }
        var status = stat()
        guard fstat(directory, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            close(directory)
            throw AttestError(.bundleMalformed, "\(path) is not a regular file")
        }
        _ = fcntl(directory, F_SETFL, O_RDONLY)  // back to blocking reads
        return ReadableFile(fd: directory)
    }

    func lines(_ path: String, maxLineBytes: Int) throws(AttestError) -> LineReader {
        LineReader(file: try open(path), maxLineBytes: maxLineBytes)
    }

    private static func describe(_ code: Int32) -> String {
        switch code {
        case ENOENT: "no such file"
        case ELOOP: "a symbolic link"
        case ENOTDIR: "a component is not a directory"
        case EISDIR: "a directory"
        case EACCES: "permission denied"
        default: String(cString: strerror(code))
        }
    }
}
