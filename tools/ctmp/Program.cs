using System.CommandLine;
using CtMparticle.Tool;

var root = new RootCommand("ctmp: the CtMparticle relay (commercetools → mParticle) on your machine, without Azure.");
root.Subcommands.Add(MapCommand.Create());
return await root.Parse(args).InvokeAsync();
