using System.Text.Json.Serialization;

namespace Postern.Spool;

/// <summary>Source-generated JSON for the envelope stored in each spool entry.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Envelope))]
internal sealed partial class SpoolJsonContext : JsonSerializerContext;
