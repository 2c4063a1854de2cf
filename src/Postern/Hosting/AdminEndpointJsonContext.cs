using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;

namespace Postern.Hosting;

/// <summary>Source-generated JSON of the admin endpoint; the CLI reads responses with the same context.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UseStringEnumConverter = true,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AdminQueueListing))]
[JsonSerializable(typeof(AdminQueueEntryDetail))]
[JsonSerializable(typeof(AdminRetryResult))]
[JsonSerializable(typeof(AdminDeleteResult))]
[JsonSerializable(typeof(AdminError))]
public sealed partial class AdminEndpointJsonContext : JsonSerializerContext
{
    /// <summary>
    /// As <see cref="JsonSerializerContext"/>'s default, but without escaping '+', '&lt;' and non-ASCII
    /// text (header lines, addresses): the answer is read by people and programs, never embedded in HTML.
    /// </summary>
    public static AdminEndpointJsonContext Readable => s_readable ??= new(new JsonSerializerOptions(Default!.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    // Lazy: static initializers of the generated half of this class may run after ours.
    private static AdminEndpointJsonContext? s_readable;
}

/// <summary>JSON responses with the source-generated context.</summary>
internal static class AdminEndpointResults
{
    public static IResult Error(int statusCode, string message) =>
        TypedResults.Json(new AdminError(message), AdminEndpointJsonContext.Readable.AdminError, statusCode: statusCode);
}
