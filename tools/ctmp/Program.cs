using CtMparticle.Tool;

return await Commands.Root().Parse(args).InvokeAsync(new System.CommandLine.InvocationConfiguration { ProcessTerminationTimeout = Commands.TerminationGrace });
