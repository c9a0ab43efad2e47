/// The version of the specification this code implements. `attest check` requires it to
/// be the newest row of spec/changelog.md's versions table, so that a report naming it
/// (`attest bundle verify`) names the text it was checked against.
public enum SpecificationVersion {
    public static let current = "0.4"
}
