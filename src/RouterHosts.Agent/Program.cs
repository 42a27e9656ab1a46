using RouterHosts.Agent;

return await AgentCommandLine.RunAsync(args);
