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
public sealed partial class AdminEndpointJsonContext : JsonSerializerContext;

/// <summary>JSON responses with the source-generated context.</summary>
internal static class AdminEndpointResults
{
    public static IResult Error(int statusCode, string message) =>
        TypedResults.Json(new AdminError(message), AdminEndpointJsonContext.Default.AdminError, statusCode: statusCode);
}
