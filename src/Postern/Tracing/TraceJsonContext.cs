using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Postern.Tracing;

/// <summary>
/// Source-generated JSON of trace answers (<c>GET /trace</c>, <c>GET /report/tls</c>, <c>--json</c>):
/// camelCase, absent values left out, event kinds as <c>postern trace</c> words them ("attempt").
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    Converters = [typeof(TraceEventKindConverter)])]
[JsonSerializable(typeof(TraceResult))]
[JsonSerializable(typeof(TlsReport))]
public sealed partial class TraceJsonContext : JsonSerializerContext
{
    /// <summary>As the default, but without escaping '+', '&lt;', '&gt;' and non-ASCII text: read by people and programs, never embedded in HTML.</summary>
    public static TraceJsonContext Readable => s_readable ??= new(new JsonSerializerOptions(Default!.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    // Lazy: static initializers of the generated half of this class may run after ours.
    private static TraceJsonContext? s_readable;
}

/// <summary><see cref="TraceEventKind"/> as the word stored in <c>events.kind</c>.</summary>
public sealed class TraceEventKindConverter : JsonConverter<TraceEventKind>
{
    public override TraceEventKind Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        string? name = reader.GetString();
        try
        {
            return TraceQuery.KindOf(name ?? "");
        }
        catch (TraceStoreUnavailableException e)
        {
            throw new JsonException(e.Message, e);
        }
    }

    public override void Write(Utf8JsonWriter writer, TraceEventKind value, JsonSerializerOptions options) =>
        writer.WriteStringValue(TraceSchema.KindName(value));
}
