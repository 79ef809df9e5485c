using CtMparticle.Tool;

return await Commands.Root().Parse(args).InvokeAsync();
