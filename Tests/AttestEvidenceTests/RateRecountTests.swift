import AttestCore
@testable import AttestEvidence
import Foundation
import TestSupport
import Testing

/// The rate state of ``PolicyEngine`` (sliding windows over a chain of artifacts) against
/// a reference that recounts every earlier allowed call for every decision, over random
/// chains, limits and call sequences: the live decision and the recount agree on every
/// call, so a verifier's recount equals a portal's live counting.
@Suite("Rate recount equals live counting")
struct RateRecountTests {
    typealias Seeded = SeededGenerator

    /// A reference decision: steps 5 and 6 by counting the whole history.
    static func limited(_ chain: [Artifact], tool: String, time: Int64, history: [(chain: [Artifact], tool: String, time: Int64)]) -> Bool {
        let name = ExactString(tool)
        for a in chain.reversed() {
            if let limit = a.tools[name]?.rateLimit {
                let n = history.filter { h in sameCodeUnits(h.tool, tool) && h.chain.contains { sameCodeUnits($0.digest, a.digest) }
                    && h.time > time - limit.window && h.time <= time }.count
                if n >= limit.max { return true }
            }
        }
        for a in chain.reversed() {
            if let limit = a.rateLimit {
                let n = history.filter { h in h.chain.contains { sameCodeUnits($0.digest, a.digest) } && h.time > time - limit.window && h.time <= time }.count
                if n >= limit.max { return true }
            }
        }
        return false
    }

    func limit(_ rng: inout Seeded) -> JSONValue? {
        Bool.random(using: &rng) ? nil : ["max": .number(JSONNumber(Int.random(in: 0...4, using: &rng))),
                                          "window": .number(JSONNumber(Int.random(in: 1...20, using: &rng)))]
    }

    @Test("500 random histories of 300 calls under an artifact and two sibling mandates")
    func agree() throws {
        let demo = DemoHistory()
        var rng = Seeded(state: 7)
        var decided = 0, allowed = 0
        for _ in 0..<500 {
            var root = demo.unsignedArtifact()
            var a = JSONObject()
            if let l = limit(&rng) { a["rate_limit"] = l }
            root["tools"] = ["a": .object(a), "b": [:]]
            root["rate_limit"] = limit(&rng)
            let artifact = try Artifact.seal(root, key: demo.authority)
            var mandates: [Artifact] = []
            for id in ["m1", "m2"] {
                var m = root
                m["type"] = .string(Artifact.mandateTypeName)
                m["id"] = .string(id)
                m["parent"] = .string(artifact.digest)
                m["subject"] = ["sub": "spiffe://agents.example/sub", "jkt": .string(demo.subAgent.publicKey.thumbprint)]
                // Narrower or equal limits: a mandate keeps every limit its parent has.
                if let l = root["tools"]?["a"]?["rate_limit"] { m["tools"] = ["a": ["rate_limit": l], "b": [:]] }
                mandates.append(try Artifact.seal(m, key: demo.agent))
            }
            let chains = [[artifact], [artifact, mandates[0]], [artifact, mandates[1]]]
            var engine = PolicyEngine()
            var history: [(chain: [Artifact], tool: String, time: Int64)] = []
            var time = artifact.notBefore
            for _ in 0..<300 {
                time += Int64.random(in: 0...3, using: &rng)
                let chain = chains.randomElement(using: &rng) ?? chains[0]
                let tool = Bool.random(using: &rng) ? "a" : "b"
                let live = engine.evaluate(chain: chain, tool: tool, arguments: nil, time: time)
                let reference = Self.limited(chain, tool: tool, time: time, history: history)
                #expect((live == .portalRateLimited) == reference)
                #expect(live == nil || live == .portalRateLimited)
                if live == nil {
                    engine.recordAllowed(chain: chain, tool: tool, time: time)
                    history.append((chain, tool, time))
                    allowed += 1
                }
                decided += 1
            }
        }
        // Neither all allowed nor all denied: the property was exercised both ways.
        #expect(allowed > decided / 10 && allowed < decided * 9 / 10, "\(allowed) of \(decided) allowed")
    }
}
