using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Postern.Delivery;
using Postern.Hosting;
using Postern.Receiving;

namespace Postern.Tests.Logging;

/// <summary>docs/logging.md lists every event the gateway logs, with the id, level and name the sources give it.</summary>
public sealed class LogEventCatalogTests
{
    private sealed record Event(int Id, LogLevel Level, string Name, string? Template);

    /// <summary>Every [LoggerMessage] method of the library, and the two lines with optional clauses.</summary>
    private static IReadOnlyList<Event> SourceEvents()
    {
        var events = typeof(PosternGateway).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(x => x.Attribute is not null)
            .Select(x => new Event(x.Attribute!.EventId, x.Attribute.Level, x.Method.Name, x.Attribute.Message))
            .ToList();
        events.Add(new Event(ReceivingLog.TlsEstablishedEvent.Id, LogLevel.Information, ReceivingLog.TlsEstablishedEvent.Name!, null));
        events.Add(new Event(DeliveryLog.TlsEstablishedEvent.Id, LogLevel.Information, DeliveryLog.TlsEstablishedEvent.Name!, null));
        return events;
    }

    private static IReadOnlyList<(Event Event, string Example)> DocumentedEvents()
    {
        string? directory = AppContext.BaseDirectory;
        while (directory is not null && !File.Exists(Path.Combine(directory, "Postern.slnx"))) directory = Path.GetDirectoryName(directory);
        Assert.True(directory is not null, "the repository root (Postern.slnx) is not above the test assembly");
        var row = new Regex(@"^\| (\d+) \| (\w+) \| (\w+) \| `(.*)` \|$");
        return File.ReadAllLines(Path.Combine(directory, "docs", "logging.md"))
            .Select(line => row.Match(line))
            .Where(m => m.Success)
            .Select(m => (new Event(int.Parse(m.Groups[1].Value), Enum.Parse<LogLevel>(m.Groups[2].Value), m.Groups[3].Value, null), m.Groups[4].Value))
            .ToArray();
    }

    [Fact]
    public void Event_ids_are_unique()
    {
        var duplicates = SourceEvents().GroupBy(e => e.Id).Where(g => g.Count() > 1).Select(g => g.Key);
        Assert.Empty(duplicates);
    }

    [Fact]
    public void Docs_list_every_event_with_its_level_and_name_and_nothing_else()
    {
        string[] expected = SourceEvents().OrderBy(e => e.Id).Select(e => $"{e.Id} {e.Level} {e.Name}").ToArray();
        string[] documented = DocumentedEvents().Select(d => $"{d.Event.Id} {d.Event.Level} {d.Event.Name}").ToArray();
        Assert.Equal(expected, documented);
    }

    [Fact]
    public void Each_documented_example_has_the_shape_of_its_message_template()
    {
        Dictionary<int, string?> templates = SourceEvents().ToDictionary(e => e.Id, e => e.Template);
        foreach ((Event e, string example) in DocumentedEvents())
        {
            if (templates[e.Id] is not { } template) continue;
            string pattern = "^" + string.Concat(Regex.Split(template, @"(\{[^{}]+\})")
                .Select(part => part.StartsWith('{') ? ".+?" : Regex.Escape(part))) + "$";
            Assert.True(Regex.IsMatch(example, pattern), $"{e.Id}: `{example}` does not fit \"{template}\"");
        }
    }
}
