import AttestCore
@testable import AttestEvidence
import Foundation
import TestSupport
import Testing

/// ``DriftTracker`` (artifact.md §Evaluation steps 0 and 7) against a reference that
/// searches every earlier allowed call of the session for each decision, over random
/// rules, chains, sessions and calls; and the bound on the sessions it keeps.
@Suite("Drift rules")
struct DriftRulesTests {
    typealias Seeded = SeededGenerator

    static let key = try! Ed25519.PrivateKey(seed: SHA256.hash(Array("drift rules tests".utf8)))  // trap-free: a 32-byte digest is a valid seed
    static let names = ["a", "b", "c"]

    static func artifact(_ drift: JSONValue, kind: Artifact.Kind = .artifact, parent: String? = nil, id: String) throws -> Artifact {
        var o: JSONObject = [
            "type": .string(kind == .artifact ? Artifact.typeName : Artifact.mandateTypeName), "id": .string(id),
            "issuer": "https://policy.example", "subject": ["sub": "spiffe://agents.example/a", "jkt": .string(key.publicKey.thumbprint)],
            "not_before": 0, "not_after": 1_000_000_000, "tools": ["a": [:], "b": [:], "c": [:]],
            "log": ["origins": ["log"]], "drift": drift,
        ]
        if let parent { o["parent"] = .string(parent) }
        return try Artifact.seal(o, key: key)
    }

    static func randomRules(_ g: inout Seeded) -> JSONValue {
        var drift: JSONObject = ["on_drift": "deny"]
        let count = Int.random(in: 0...3, using: &g)
        if count > 0 {
            drift["sequences"] = .array((0..<count).map { _ in
                let tools = (0..<Int.random(in: 2...4, using: &g)).map { _ in JSONValue.string(names.randomElement(using: &g) ?? "a") }
                return ["tools": .array(tools), "window": .number(JSONNumber(Double(Int.random(in: 1...20, using: &g))))]
            })
        }
        if Bool.random(using: &g) {
            drift["burst"] = ["max": .number(JSONNumber(Double(Int.random(in: 1...4, using: &g)))),
                              "window": .number(JSONNumber(Double(Int.random(in: 1...10, using: &g))))]
        }
        return .object(drift)
    }

    struct Call { let session: String; let chain: [Artifact]; let tool: String; let time: Int64 }

    /// The reference: the definitions of artifact.md, applied to the whole history.
    static func fires(_ c: Call, history: [Call]) -> Bool {
        for a in c.chain {
            guard let rules = a.driftRules else { continue }
            let counted = history.filter { h in sameCodeUnits(h.session, c.session) && h.chain.contains { sameCodeUnits($0.digest, a.digest) } }
            for rule in rules.sequences where rule.tools.last == ExactString(c.tool) {
                // Greedy leftmost matching of the prefix among calls inside the window.
                var k = 0
                for h in counted where h.time > c.time - rule.window && k < rule.tools.count - 1 {
                    if rule.tools[k] == ExactString(h.tool) { k += 1 }
                }
                if k == rule.tools.count - 1 { return true }
            }
            if let burst = rules.burst, counted.filter({ $0.time > c.time - burst.window }).count >= burst.max { return true }
        }
        return false
    }

    @Test func liveDecisionsEqualTheReference() throws {
        var g = Seeded(state: 20_261_207)
        var fired = 0, quarantined = 0
        for round in 0..<40 {
            let root = try Self.artifact(Self.randomRules(&g), id: "root-\(round)")
            let child = try Self.artifact(Self.randomRules(&g), kind: .mandate, parent: root.digest, id: "child-\(round)")
            var tracker = DriftTracker()
            var history: [Call] = []
            var began: [String: ErrorCode] = [:]
            var time: Int64 = 0
            for _ in 0..<300 {
                time += Int64.random(in: 0...3, using: &g)
                let session = ["s1", "s2", "s3"].randomElement(using: &g) ?? "s1"
                let chain = Bool.random(using: &g) ? [root] : [root, child]
                let call = Call(session: session, chain: chain, tool: Self.names.randomElement(using: &g) ?? "a", time: time)
                #expect(tracker.began(session: session) == began[session])
                if began[session] != nil { quarantined += 1; continue }
                if Int.random(in: 0..<100, using: &g) == 0 {
                    // A drift receipt written for another reason (an upstream drift).
                    tracker.record(chain: chain, session: session, tool: call.tool, time: time, code: .portalUpstreamDrift)
                    began[session] = .portalUpstreamDrift
                    continue
                }
                let live = tracker.fires(chain: chain, session: session, tool: call.tool, time: time)
                #expect(live == Self.fires(call, history: history), "round \(round) at \(time)")
                if live {
                    fired += 1
                    tracker.record(chain: chain, session: session, tool: call.tool, time: time, code: .portalBehaviourDrift)
                    began[session] = .portalBehaviourDrift
                } else {
                    tracker.record(chain: chain, session: session, tool: call.tool, time: time, code: nil)
                    history.append(call)
                }
            }
        }
        #expect(fired > 20 && quarantined > 100)
    }

    /// A session whose calls have all left the longest window is forgotten; one in drift is kept.
    /// Memory grows with the sessions, not with their calls: one session's 100,000 calls
    /// under a long window leave one entry in the queue of expiries.
    @Test func oneSessionOfManyCallsHoldsOneEntry() throws {
        let a = try Self.artifact(["on_drift": "deny", "burst": ["max": 1000, "window": 1_000_000]], id: "long")
        var tracker = DriftTracker()
        for i in 0..<100_000 {
            let time = Int64(i / 100)
            _ = tracker.fires(chain: [a], session: "one", tool: "a", time: time)
            tracker.recordAllowed(chain: [a], session: "one", tool: "a", time: time)
        }
        #expect(tracker.count == 1)
        #expect(tracker.pendingExpiries <= 2, "\(tracker.pendingExpiries) entries for one session")
        // Once the window has passed the session is dropped.
        _ = tracker.fires(chain: [a], session: "other", tool: "a", time: 3_000_000)
        #expect(tracker.count == 0)
    }

    @Test func expiredSessionsAreDropped() throws {
        let a = try Self.artifact(["on_drift": "deny", "sequences": [["tools": ["a", "b"], "window": 10]], "burst": ["max": 5, "window": 5]], id: "bounded")
        var tracker = DriftTracker()
        for i in 0..<100_000 {
            let time = Int64(i / 10)
            _ = tracker.fires(chain: [a], session: "s\(i)", tool: "a", time: time)
            tracker.recordAllowed(chain: [a], session: "s\(i)", tool: "a", time: time)
        }
        tracker.begin(session: "s0", code: .portalBehaviourDrift)
        #expect(tracker.count <= 200)
        _ = tracker.fires(chain: [a], session: "x", tool: "a", time: 1_000_000)
        #expect(tracker.count == 1)
        #expect(tracker.began(session: "s0") == .portalBehaviourDrift)
    }
}
