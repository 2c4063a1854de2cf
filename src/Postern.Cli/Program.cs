using System.CommandLine;
using Postern.Cli;

var root = new RootCommand("Postern: an SMTP relay gateway that enforces TLS policy per partner connector.")
{
    ServeCommand.Create(),
    CheckConfigCommand.Create(),
    ProbeCommand.Create(),
    QueueCommand.Create(),
};
return await root.Parse(args).InvokeAsync();
