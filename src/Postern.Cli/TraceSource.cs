using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Postern.Configuration;
using Postern.Hosting;
using Postern.Tracing;

namespace Postern.Cli;

/// <summary>
/// Where <c>postern trace</c> and <c>postern report</c> get their answer: the running gateway's
/// admin endpoint (found as the queue commands find it), or the trace database itself with
/// <c>--data-dir</c>, or when the endpoint cannot be reached (then the configuration's dataDirectory).
/// Exit codes: 0 answered, 1 a bad request, 2 no gateway and no database to read.
/// </summary>
internal static class TraceSource
{
    public const int BadRequest = 1;
    public const int Unavailable = 2;
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Answers with the admin endpoint's JSON for <paramref name="path"/>, or with
    /// <paramref name="direct"/> over the database. <paramref name="print"/> gets the JSON text.
    /// </summary>
    public static async Task<int> RunAsync(FileInfo? configFile, DirectoryInfo? dataDirectory, string path,
        Func<TraceQuery, string> direct, Action<string, TextWriter> print, bool json, CancellationToken cancellation)
    {
        TextWriter output = Console.Out;
        TextWriter error = Console.Error;
        string? body;
        if (dataDirectory is not null)
        {
            body = ReadDirect(dataDirectory.FullName, direct, error);
        }
        else
        {
            PosternConfiguration? configuration = CommonOptions.LoadOrReport(configFile, TextWriter.Null, out int errors);
            if (configuration is null)
            {
                error.WriteLine($"postern: {errors} error(s) in {configFile?.FullName}, so neither the gateway's admin endpoint nor its data directory is known; "
                    + $"run 'postern check-config --config {configFile?.FullName}' for details, or give --data-dir.");
                return Unavailable;
            }
            string configured = Path.GetFullPath(configuration.Gateway.DataDirectory);
            if (configuration.Gateway.Admin?.Endpoint is not { Length: > 0 } address)
            {
                body = ReadDirect(configured, direct, error);
            }
            else
            {
                (int? status, body, string? unreachable) = await AskAsync(address, path, cancellation);
                if (unreachable is not null)
                {
                    error.WriteLine($"postern: {unreachable}; reading {TraceQuery.PathFor(configured)} directly.");
                    body = ReadDirect(configured, direct, error);
                }
                else if (status == 404 && AdminClient.ErrorMessage(body!, 404) == "no such endpoint")
                {
                    error.WriteLine($"postern: the gateway at {address} does not serve /{path.Split('?')[0]}; reading {TraceQuery.PathFor(configured)} directly.");
                    body = ReadDirect(configured, direct, error);
                }
                else if (status is not (>= 200 and < 300))
                {
                    error.WriteLine($"postern: {AdminClient.ErrorMessage(body!, status!.Value)}");
                    return status is >= 400 and < 500 ? BadRequest : Unavailable;
                }
            }
        }
        if (body is null) return Unavailable;
        try
        {
            if (json) output.WriteLine(body.TrimEnd());
            else print(body, output);
        }
        catch (JsonException e)
        {
            error.WriteLine($"postern: the answer is not the trace's JSON: {e.Message}");
            return Unavailable;
        }
        return 0;
    }

    private static string? ReadDirect(string dataDirectory, Func<TraceQuery, string> direct, TextWriter error)
    {
        try
        {
            using TraceQuery trace = TraceQuery.Open(dataDirectory);
            return direct(trace);
        }
        catch (TraceStoreUnavailableException e)
        {
            error.WriteLine($"postern: {e.Message}");
            return null;
        }
    }

    /// <summary>One GET; a null status and the reason when the endpoint cannot be reached.</summary>
    private static async Task<(int? Status, string? Body, string? Unreachable)> AskAsync(string address, string path, CancellationToken cancellation)
    {
        EndPoint endpoint;
        try
        {
            endpoint = AdminEndpoint.ParseEndPoint(address);
        }
        catch (InvalidOperationException e)
        {
            return (null, null, e.Message);
        }
        using HttpClient client = AdminClient.Create(endpoint, RequestTimeout);
        try
        {
            using HttpResponseMessage response = await client.GetAsync(path, cancellation);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(cancellation), null);
        }
        catch (HttpRequestException e)
        {
            return (null, null, $"cannot reach the gateway's admin endpoint at {address}: {AdminClient.Describe(e)}");
        }
        catch (TaskCanceledException) when (!cancellation.IsCancellationRequested)
        {
            return (null, null, $"the gateway's admin endpoint at {address} did not answer within {RequestTimeout.TotalSeconds:0} s");
        }
    }
}
