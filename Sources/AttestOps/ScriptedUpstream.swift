import AttestCore
import Foundation

/// The scripted MCP server of the portal conformance scenarios (portal.md): a stdio server
/// with a fixed set of tools that records every request it receives, one line each
/// (`method` and, for a call, the tool), so that the runner can tell whether a call reached
/// it. The tool `crash` ends the process before answering, as a failing server would.
public enum ScriptedUpstream {
    public static func run(tools: [String], callsFile: String) {
        let log = FileHandle(forWritingAtPath: callsFile) ?? {
            FileManager.default.createFile(atPath: callsFile, contents: nil)
            return FileHandle(forWritingAtPath: callsFile)
        }()
        var buffer: [UInt8] = []
        while true {
            let chunk = FileHandle.standardInput.availableData
            if chunk.isEmpty { return }
            for byte in chunk {
                guard byte == 0x0A else {
                    if buffer.count < 1 << 20 { buffer.append(byte) }
                    continue
                }
                defer { buffer.removeAll(keepingCapacity: true) }
                guard case .object(let message)? = try? StrictJSONParser().parse(buffer),
                      let method = message["method"]?.stringValue, let id = message["id"] else { continue }
                let name = message["params"]?["name"]?.stringValue
                try? log?.seekToEnd()
                try? log?.write(contentsOf: Data("\(method) \(name ?? "")\n".utf8))
                try? log?.synchronize()
                if method.isExactly("tools/call"), name?.isExactly("crash") == true { exit(1) }
                let reply = answer(method: method, name: name, params: message["params"], tools: tools)
                var response: JSONObject = ["jsonrpc": "2.0", "id": id]
                switch reply {
                case .success(let result): response["result"] = result
                case .failure(let error): response["error"] = error.value
                }
                FileHandle.standardOutput.write(Data((JSONValue.object(response).serialized(pretty: false) + "\n").utf8))
            }
        }
    }

    struct Failure: Error { let value: JSONValue }

    static func answer(method: String, name: String?, params: JSONValue?, tools: [String]) -> Result<JSONValue, Failure> {
        // Names compared by code points: a switch on String would match canonically equivalent spellings.
        let known = ["initialize", "server/discover", "ping", "tools/list", "tools/call"]
        switch known.first(where: { $0.isExactly(method) }) ?? "" {
        case "initialize":
            return .success(["protocolVersion": params?["protocolVersion"] ?? "2025-11-25", "capabilities": ["tools": [:]],
                             "serverInfo": ["name": "scripted-upstream", "version": "1"]])
        case "server/discover":
            return .success(["supportedVersions": ["2026-07-28"], "capabilities": ["tools": [:]]])
        case "ping": return .success([:])
        case "tools/list":
            return .success(["tools": .array(tools.map { ["name": .string($0), "inputSchema": ["type": "object"]] })])
        case "tools/call":
            guard let name, tools.containsExactly(name) else {
                return .failure(Failure(value: ["code": -32602, "message": .string("unknown tool \(name ?? "")")]))
            }
            return .success(["content": [["type": "text", "text": .string("ran \(name)")]], "isError": false])
        default:
            return .failure(Failure(value: ["code": -32601, "message": "Method not found"]))
        }
    }
}
