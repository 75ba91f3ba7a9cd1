// The console: panes, prompt, tuner (issue 5).
