// SPDX-License-Identifier: Apache-2.0
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * axis_width_conv — AXI4-Stream width converter for a stream of W-bit elements: IN_N elements
 * per input beat become OUT_N elements per output beat, in the same order. Element 0 of a
 * beat sits in its low bits (the packing of half.rtl.mem.pack), so the first element of the
 * stream leaves in the low bits of the first output beat.
 *
 * Parameters
 *   W      element width (>= 1)
 *   IN_N   elements per input beat (>= 1)
 *   OUT_N  elements per output beat (>= 1); one of IN_N, OUT_N must divide the other
 * Ports
 *   clk, rst                          clock; synchronous active-high reset
 *   s_axis_t{data,last,valid,ready}   input stream, IN_N * W bits of tdata
 *   m_axis_t{data,last,valid,ready}   output stream, OUT_N * W bits of tdata
 * Behaviour, latency and throughput (R = the ratio of the larger to the smaller of IN_N, OUT_N)
 *   IN_N == OUT_N  pass-through wires: latency 0, one beat per cycle.
 *   IN_N >  OUT_N  downsizing: each input beat leaves as R output beats, tlast on the last of
 *                  them when the input beat had tlast. Latency 1 cycle (a beat accepted at
 *                  edge k gives its first output beat after edge k, the others on the next
 *                  R - 1 output handshakes); one output beat per cycle, so one input beat per
 *                  R cycles; the next input beat is taken in the cycle the last piece leaves.
 *   IN_N <  OUT_N  upsizing: R input beats make one output beat, tlast when the last of them
 *                  had tlast. An input beat with tlast ends its group early: the output beat is
 *                  sent with the elements not received set to zero, and the next group starts
 *                  at element 0. Windows of a whole number of output beats (a multiple of OUT_N
 *                  elements) therefore never produce such a partial beat. Latency 1 cycle (the
 *                  output beat is valid after the edge that accepts the group's last input
 *                  beat); one input beat per cycle, one output beat per R cycles. The output
 *                  register doubles as the collecting register, so the input waits while a
 *                  complete output beat is held by back-pressure.
 *   s_axis_tready depends combinationally on m_axis_tready when IN_N != OUT_N (as in a
 *   pipeline register without skid buffer); tdata and tlast never do.
 */
module axis_width_conv #(
    parameter integer W = 8,  // element width
    parameter integer IN_N = 4,  // elements per input beat
    parameter integer OUT_N = 1  // elements per output beat
) (
    input  wire               clk,
    input  wire               rst,
    input  wire [IN_N*W-1:0]  s_axis_tdata,
    input  wire               s_axis_tlast,
    input  wire               s_axis_tvalid,
    output wire               s_axis_tready,
    output wire [OUT_N*W-1:0] m_axis_tdata,
    output wire               m_axis_tlast,
    output wire               m_axis_tvalid,
    input  wire               m_axis_tready
);

    localparam integer IW = IN_N * W;  // input tdata width
    localparam integer OW = OUT_N * W;  // output tdata width
    localparam integer R = (IN_N < 1 || OUT_N < 1) ? 1
                         : (IN_N > OUT_N) ? IN_N / OUT_N : OUT_N / IN_N;  // size ratio
    localparam integer CW = (R > 1) ? $clog2(R) : 1;  // piece counter width
    localparam [CW-1:0] LAST = CW'(R - 1);  // index of the last piece

    generate
        if (W < 1 || IN_N < 1 || OUT_N < 1) begin : g_bad
            initial $error("axis_width_conv: W, IN_N and OUT_N must be >= 1 (instance %m)");
        end else if (IN_N % OUT_N != 0 && OUT_N % IN_N != 0) begin : g_bad_ratio
            initial $error("axis_width_conv: IN_N or OUT_N must divide the other (instance %m)");
        end
    endgenerate

    generate
        if (IN_N == OUT_N) begin : g_pass
            assign m_axis_tdata = s_axis_tdata;
            assign m_axis_tlast = s_axis_tlast;
            assign m_axis_tvalid = s_axis_tvalid;
            assign s_axis_tready = m_axis_tready;

            // verilator lint_off UNUSEDSIGNAL
            wire unused_clk_rst = &{1'b0, clk, rst};
            // verilator lint_on UNUSEDSIGNAL

        end else if (IN_N > OUT_N) begin : g_down
            // the input beat, shifted down by one output beat per handshake
            reg [IW-1:0] data_reg;
            reg last_reg;
            reg valid_reg;
            reg [CW-1:0] idx_reg;  // piece now at the output
            wire at_end = idx_reg == LAST;

            assign s_axis_tready = !valid_reg || (m_axis_tready && at_end);
            assign m_axis_tdata = data_reg[OW-1:0];
            assign m_axis_tlast = last_reg && at_end;
            assign m_axis_tvalid = valid_reg;

            always @(posedge clk) begin
                if (rst) begin
                    valid_reg <= 1'b0;
                    idx_reg <= {CW{1'b0}};
                end else if (s_axis_tvalid && s_axis_tready) begin
                    data_reg <= s_axis_tdata;
                    last_reg <= s_axis_tlast;
                    valid_reg <= 1'b1;
                    idx_reg <= {CW{1'b0}};
                end else if (valid_reg && m_axis_tready) begin
                    if (at_end) begin
                        valid_reg <= 1'b0;
                    end else begin
                        data_reg <= data_reg >> OW;
                        idx_reg <= idx_reg + 1'b1;
                    end
                end
            end

        end else begin : g_up
            // the output beat is collected in place: piece j in slot j
            reg last_reg;
            reg valid_reg;
            reg [CW-1:0] idx_reg;  // slot of the next input beat
            wire take = s_axis_tvalid && s_axis_tready;
            wire ends = (idx_reg == LAST) || s_axis_tlast;

            assign s_axis_tready = !valid_reg || m_axis_tready;
            assign m_axis_tlast = last_reg;
            assign m_axis_tvalid = valid_reg;

            genvar j;
            for (j = 0; j < R; j = j + 1) begin : g_slot
                reg [IW-1:0] piece_reg;
                assign m_axis_tdata[j*IW +: IW] = piece_reg;
                always @(posedge clk) begin
                    if (take) begin
                        if (idx_reg == CW'(j)) begin
                            piece_reg <= s_axis_tdata;
                        end else if (idx_reg == {CW{1'b0}}) begin
                            piece_reg <= {IW{1'b0}};  // a new group: clear the later slots
                        end
                    end
                end
            end

            always @(posedge clk) begin
                if (rst) begin
                    valid_reg <= 1'b0;
                    idx_reg <= {CW{1'b0}};
                end else begin
                    if (m_axis_tready) valid_reg <= 1'b0;
                    if (take) begin
                        last_reg <= s_axis_tlast;
                        if (ends) begin
                            valid_reg <= 1'b1;
                            idx_reg <= {CW{1'b0}};
                        end else begin
                            idx_reg <= idx_reg + 1'b1;
                        end
                    end
                end
            end
        end
    endgenerate

endmodule

`resetall
