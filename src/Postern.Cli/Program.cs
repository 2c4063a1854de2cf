using System.CommandLine;
using System.CommandLine.Help;
using Postern.Cli;

// A plain Command as the root, because RootCommand takes its name from the executable
// (Postern.Cli); this one is named as the product's CLI is. RootCommand's directives are not used.
var root = new Command("postern", "Postern: an SMTP relay gateway that enforces TLS policy per partner connector.")
{
    new HelpOption(),
    new VersionOption(),
    ServeCommand.Create(),
    CheckConfigCommand.Create(),
    ProbeCommand.Create(),
    QueueCommand.Create(),
    ConnectorCommand.Create(),
    TraceCommand.Create(),
    ReportCommand.Create(),
};
return await root.Parse(args).InvokeAsync();
