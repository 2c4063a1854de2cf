using System.Text.Json.Serialization;

namespace Postern.Spool;

/// <summary>Source-generated JSON for the envelope stored in each spool entry and the delivery state next to it.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Envelope))]
[JsonSerializable(typeof(DeliveryState))]
internal sealed partial class SpoolJsonContext : JsonSerializerContext;
