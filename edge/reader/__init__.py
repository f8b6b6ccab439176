"""One reader: its camera's frames become facts, facts become observations, the checkpoint
decides. `pipeline` runs the loop, a `binding` turns scanned passes (and faces) into
observations: `PassOnly` hands each pass straight on, `FaceBinding` holds a pass for its
holder's face and decides on faces alone."""
