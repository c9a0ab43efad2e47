import Testing
@testable import AttestPortal

@Suite struct LineFramerTests {
    @Test func splitsLinesAndSkipsOverlongOnes() {
        var framer = LineFramer(maxBytes: 8)
        #expect(framer.feed(Array("{\"a\":1}\n".utf8)) == [.line(Array("{\"a\":1}".utf8))])
        // A line over the limit is reported once and skipped to its end; the next line is whole.
        #expect(framer.feed(Array("0123456789abcdef".utf8)) == [.tooLong])
        #expect(framer.feed(Array("xyz\n{}\r\n".utf8)) == [.line(Array("{}".utf8))])
        // Split across reads, and empty lines ignored.
        #expect(framer.feed(Array("\n[1,".utf8)).isEmpty)
        #expect(framer.feed(Array("2]\n".utf8)) == [.line(Array("[1,2]".utf8))])
    }
}

@Suite struct HeaderValueTests {
    @Test func nonASCIINamesTravelAsBase64() {
        #expect(HTTPPortal.decodedHeaderValue("=?base64?Y2Fmw6k=?=") == "caf\u{e9}")
        #expect(HTTPPortal.decodedHeaderValue("echo") == "echo")
        // Not the encoding: taken as written.
        #expect(HTTPPortal.decodedHeaderValue("=?base64?not base64?=") == "=?base64?not base64?=")
        #expect(HTTPPortal.decodedHeaderValue("=?base64?=") == "=?base64?=")
    }
}
